<?php
// Router for PHP's built-in server in front of Debian's WordPress: Debian's wp-config.php picks
// /etc/wordpress/config-$WORDPRESS_CONFIG.php from $_SERVER, which the CLI server does not fill
// from the environment. Returning false serves the requested file as usual.
$_SERVER['WORDPRESS_CONFIG'] = (string) getenv('WORDPRESS_CONFIG');
return false;
