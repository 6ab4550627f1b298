<?php

namespace PackEdge\Tests;

/** PHP's built-in server running tests/fixtures/receiver.php: a fake PackEdge that records bodies. */
final class Receiver
{
    /** @var resource|null */
    private $process;
    /** @var string */
    public $log;
    /** @var int */
    public $port;

    /** @var int */
    private $sleep;

    /** @var bool */
    private $failFirst;

    /**
     * @param int $sleep seconds to wait before answering each request: a slow server
     * @param bool $failFirst answer 503 to a body the first time it comes
     */
    public function __construct(int $port, int $sleep = 0, bool $failFirst = false)
    {
        $this->port = $port;
        $this->sleep = $sleep;
        $this->failFirst = $failFirst;
        $this->log = tempnam(sys_get_temp_dir(), 'packedge-receiver-');
    }

    public function url(): string
    {
        return 'http://127.0.0.1:' . $this->port;
    }

    public function start(): void
    {
        $command = [PHP_BINARY, '-S', '127.0.0.1:' . $this->port, __DIR__ . '/fixtures/receiver.php'];
        $env = [
            'PACKEDGE_RECEIVER_LOG' => $this->log,
            'PACKEDGE_RECEIVER_SLEEP' => (string) $this->sleep,
            'PACKEDGE_RECEIVER_FAIL_FIRST' => $this->failFirst ? '1' : '',
            'PATH' => (string) getenv('PATH'),
        ];
        $this->process = proc_open($command, [0 => ['pipe', 'r'], 1 => ['file', '/dev/null', 'a'], 2 => ['file', '/dev/null', 'a']], $pipes, null, $env);
        // A single process (no PHP_CLI_SERVER_WORKERS), so that proc_terminate() stops all of it.
        $deadline = microtime(true) + 10;
        while (microtime(true) < $deadline) {
            $status = proc_get_status($this->process);
            if (!$status['running']) {
                throw new \RuntimeException('the receiver could not start on port ' . $this->port . ' (in use?)');
            }
            $socket = @fsockopen('127.0.0.1', $this->port, $errno, $errstr, 0.2);
            if ($socket !== false) {
                fclose($socket);
                return;
            }
            usleep(50000);
        }
        throw new \RuntimeException('the receiver did not start on port ' . $this->port);
    }

    public function stop(): void
    {
        if ($this->process !== null) {
            proc_terminate($this->process, 15);
            proc_close($this->process);
            $this->process = null;
        }
        @unlink($this->log);
    }

    public function clear(): void
    {
        file_put_contents($this->log, '');
    }

    /** @return array<int,array{path:string,contentType:string,body:string}> the requests received, in order */
    public function requests(float $waitSeconds = 0.0): array
    {
        $deadline = microtime(true) + $waitSeconds;
        do {
            clearstatcache();
            $lines = array_filter(explode("\n", (string) file_get_contents($this->log)));
            if ($lines !== [] || microtime(true) >= $deadline) {
                break;
            }
            usleep(20000);
        } while (true);
        return array_map(function ($line) {
            return json_decode($line, true);
        }, array_values($lines));
    }
}
