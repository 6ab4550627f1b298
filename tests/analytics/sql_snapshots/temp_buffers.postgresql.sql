SET temp_buffers = '256MB'
