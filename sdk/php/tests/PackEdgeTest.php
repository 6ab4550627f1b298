<?php

declare(strict_types=1);

namespace PackEdge\Tests;

use PackEdge\PackEdge;
use PHPUnit\Framework\TestCase;

final class PackEdgeTest extends TestCase
{
    /** Nothing listens here (the test asserts it): connection refused, as with PackEdge down. */
    private const DOWN_ENDPOINT = 'http://127.0.0.1:8179';
    private const UUID4 = '/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/';

    /** @var Receiver */
    private static $receiver;
    /** @var Receiver answers after 4 s */
    private static $slow;
    /** @var Receiver answers 503 to a body the first time */
    private static $flaky;

    public static function setUpBeforeClass(): void
    {
        $port = (int) (getenv('PACKEDGE_TEST_RECEIVER_PORT') ?: 8173);
        self::$receiver = new Receiver($port);
        self::$receiver->start();
        self::$slow = new Receiver($port + 1, 4);
        self::$slow->start();
        self::$flaky = new Receiver($port + 2, 0, true);
        self::$flaky->start();
    }

    public static function tearDownAfterClass(): void
    {
        self::$receiver->stop();
        self::$slow->stop();
        self::$flaky->stop();
    }

    protected function setUp(): void
    {
        self::$receiver->clear();
        self::$flaky->clear();
        PackEdge::reset();
    }

    /** @return array<int,array<string,mixed>> the batch bodies received, decoded */
    private static function bodies(float $wait = 0.0): array
    {
        return array_map(function ($request) {
            return json_decode($request['body'], true);
        }, self::$receiver->requests($wait));
    }

    /** Runs tests/fixtures/page.php as its own PHP process: its wall time in seconds. */
    private static function pageView(string $endpoint, int $events): float
    {
        $started = microtime(true);
        $command = [PHP_BINARY, __DIR__ . '/fixtures/page.php', $endpoint, (string) $events];
        $process = proc_open($command, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $stdout = stream_get_contents($pipes[1]);
        $stderr = stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        $status = proc_close($process);
        $seconds = microtime(true) - $started;
        self::assertSame(0, $status, $stderr);
        self::assertSame("page rendered\n", $stdout, 'the SDK printed nothing into the page');
        return $seconds;
    }

    // ------------------------------------------------------------ batching

    public function testEventsOfOneRequestArriveAsOneBatchAtShutdown(): void
    {
        self::pageView(self::$receiver->url(), 5);

        $requests = self::$receiver->requests();
        $this->assertCount(1, $requests, 'five track() calls, one HTTP request');
        $this->assertSame('/public/v1/events', $requests[0]['path']);
        $this->assertSame('application/json', $requests[0]['contentType']);
        $body = json_decode($requests[0]['body'], true);
        $this->assertSame('pk_test_page', $body['public_key']);
        $this->assertCount(5, $body['events']);
        $uuids = [];
        foreach ($body['events'] as $n => $event) {
            $this->assertSame('feature_used', $event['event']);
            $this->assertSame(['feature' => 'export', 'n' => $n], $event['properties']);
            $this->assertSame('MYPLUGIN-0001', $event['license_key']);
            $this->assertSame('shop.example.com', $event['site'], 'the host alone, lower case, no port or path');
            $this->assertMatchesRegularExpression(self::UUID4, $event['uuid']);
            $this->assertMatchesRegularExpression('/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/', $event['timestamp']);
            $uuids[] = $event['uuid'];
        }
        $this->assertCount(5, array_unique($uuids));
    }

    public function testNothingIsSentWhenNothingWasTracked(): void
    {
        self::pageView(self::$receiver->url(), 0);
        $this->assertSame([], self::$receiver->requests());
    }

    public function testFlushSendsTheQueueOnceAndEmptiesIt(): void
    {
        PackEdge::init('pk_flush', ['endpoint' => self::$receiver->url(), 'autoFlush' => false]);
        PackEdge::track('export');
        PackEdge::track('import', []);
        PackEdge::flush();
        PackEdge::flush();

        $bodies = self::bodies();
        $this->assertCount(1, $bodies);
        $this->assertSame(['export', 'import'], array_column($bodies[0]['events'], 'event'));
        $this->assertSame([], PackEdge::instance()->queued());
        $this->assertSame([['events' => 2, 'status' => 200, 'attempts' => 1]], array_map(function ($sent) {
            return ['events' => $sent['events'], 'status' => $sent['status'], 'attempts' => $sent['attempts']];
        }, PackEdge::instance()->sent()));
    }

    public function testEmptyPropertiesAreSentAsAnObjectNotAList(): void
    {
        PackEdge::init('pk_empty', ['endpoint' => self::$receiver->url(), 'autoFlush' => false]);
        PackEdge::track('export');
        PackEdge::track('import', ['a', 'b']);
        PackEdge::flush();

        $raw = self::$receiver->requests()[0]['body'];
        $this->assertStringContainsString('"properties":{}', $raw);
        $this->assertStringContainsString('"properties":{"0":"a","1":"b"}', $raw);
    }

    public function testMoreThanAThousandEventsAreSplitIntoBatchesTheEndpointAccepts(): void
    {
        PackEdge::init('pk_many', ['endpoint' => self::$receiver->url(), 'autoFlush' => false, 'maxQueue' => 2500]);
        for ($i = 0; $i < 2300; $i++) {
            PackEdge::track('tick');
        }
        PackEdge::flush();

        $this->assertSame([1000, 1000, 300], array_map(function ($body) {
            return count($body['events']);
        }, self::bodies()));
    }

    public function testTheQueueIsCappedSoARunawayLoopCannotGrowMemory(): void
    {
        PackEdge::init('pk_cap', ['endpoint' => self::$receiver->url(), 'autoFlush' => false, 'maxQueue' => 3]);
        $accepted = [];
        for ($i = 0; $i < 5; $i++) {
            $accepted[] = PackEdge::instance()->queue('tick');
        }
        $this->assertSame([true, true, true, false, false], $accepted);
    }

    // ------------------------------------------------------------ what the endpoint would refuse

    public function testEventsTheEndpointWouldRefuseAreDroppedSoTheRestOfTheBatchIsStored(): void
    {
        // The batch endpoint is all-or-nothing: one bad event would lose the others.
        PackEdge::init('pk_bad', ['endpoint' => self::$receiver->url(), 'autoFlush' => false]);
        $client = PackEdge::instance();
        $this->assertFalse($client->queue(''));
        $this->assertFalse($client->queue('   '));
        $this->assertFalse($client->queue(str_repeat('x', 201)));
        $this->assertTrue($client->queue(str_repeat('é', 200)), '200 characters, 400 bytes: accepted');
        $this->assertFalse($client->queue("tab\tname"));
        $this->assertFalse($client->queue("zero\u{200B}width"));
        $this->assertFalse($client->queue("\xff\xfe not utf-8"));
        $this->assertFalse($client->queue('feature_used', ['feature' => "bad\u{202E}feature"]));
        $this->assertFalse($client->queue('big', ['blob' => str_repeat('x', 32 * 1024)]));
        $this->assertTrue($client->queue('fits', ['blob' => str_repeat('x', 32 * 1024 - 11)]), '{"blob":"…"} is 32768 bytes');
        $this->assertFalse($client->queue('nul', ['text' => "a\0b"]));
        $this->assertTrue($client->queue('ok', ['text' => 'fine']));
        PackEdge::flush();

        $events = self::bodies()[0]['events'];
        $this->assertSame([str_repeat('é', 200), 'fits', 'ok'], array_column($events, 'event'));
    }

    public function testHostileValuesNeverThrow(): void
    {
        PackEdge::init('pk_hostile', ['endpoint' => self::$receiver->url(), 'autoFlush' => false]);
        $recursive = ['a' => 1];
        $recursive['self'] = &$recursive;
        $deep = [];
        for ($i = 0, $node = &$deep; $i < 100; $i++) {
            $node['x'] = [];
            $node = &$node['x'];
        }
        unset($node);
        $resource = fopen('php://memory', 'r');

        PackEdge::track('nan', ['value' => NAN, 'inf' => INF]);
        PackEdge::track('broken_text', ['text' => "\xc3\x28"]);
        PackEdge::track('resource', ['handle' => $resource]);
        PackEdge::track('recursive', $recursive);
        PackEdge::track('deep', $deep);
        PackEdge::track('object', ['when' => new \DateTimeImmutable('2026-01-01T00:00:00Z')]);
        PackEdge::flush();
        fclose($resource);

        // Whatever got through is valid JSON the endpoint can parse; nothing threw.
        $bodies = self::bodies();
        $this->assertCount(1, $bodies);
        $names = array_column($bodies[0]['events'], 'event');
        $this->assertContains('broken_text', $names);
        $this->assertSame("\u{FFFD}(", $bodies[0]['events'][array_search('broken_text', $names, true)]['properties']['text']);
        $this->assertNotContains('deep', $names, 'deeper than 60 levels: dropped alone');
        // NAN and INF cannot be JSON: sent as 0 rather than losing the event.
        $this->assertSame(['value' => 0, 'inf' => 0], $bodies[0]['events'][array_search('nan', $names, true)]['properties']);
    }

    public function testWrongArgumentTypesNeverThrowEvenUnderStrictTypes(): void
    {
        // This file declares strict_types: typed SDK parameters would raise a TypeError here.
        $this->assertNull(PackEdge::init(null));
        $this->assertNull(PackEdge::init('pk_types', 'not options'));
        PackEdge::init('pk_types', ['endpoint' => self::$receiver->url(), 'autoFlush' => false]);
        PackEdge::track(42);
        PackEdge::track(null, ['a' => 1]);
        PackEdge::track('scalar_properties', 'oops');
        $this->assertTrue(PackEdge::instance()->queue('object_properties', (object) ['a' => 1]));
        $this->assertSame(['object_properties'], array_column(PackEdge::instance()->queued(), 'event'));
    }

    public function testAMisconfiguredTransportNeverThrows(): void
    {
        // 'wordpress' outside WordPress: wp_remote_post() does not exist; the Error is swallowed.
        PackEdge::init('pk_wrong', ['endpoint' => self::$receiver->url(), 'autoFlush' => false, 'transport' => 'wordpress']);
        PackEdge::track('export');
        PackEdge::flush();
        $this->assertSame([], self::$receiver->requests());
        $this->assertSame([], PackEdge::instance()->queued());
    }

    public function testTrackBeforeInitIsANoOp(): void
    {
        PackEdge::track('export');
        PackEdge::flush();
        $this->assertNull(PackEdge::instance());
    }

    public function testTheStreamTransportWorksWithoutCurl(): void
    {
        PackEdge::init('pk_stream', ['endpoint' => self::$receiver->url(), 'autoFlush' => false, 'transport' => 'stream']);
        PackEdge::track('export');
        PackEdge::flush();
        $this->assertSame(200, PackEdge::instance()->sent()[0]['status']);
        $this->assertSame(['export'], array_column(self::bodies()[0]['events'], 'event'));
    }

    public function testUuidsAreVersion4(): void
    {
        $uuids = [];
        for ($i = 0; $i < 200; $i++) {
            $uuids[] = PackEdge::uuid4();
        }
        foreach ($uuids as $uuid) {
            $this->assertMatchesRegularExpression(self::UUID4, $uuid);
        }
        $this->assertCount(200, array_unique($uuids));
    }

    // ------------------------------------------------------------ server down, server slow

    public function testServerDownNeverThrowsAndReturnsAtOnce(): void
    {
        $socket = @fsockopen('127.0.0.1', 8179, $errno, $errstr, 0.5);
        $this->assertFalse($socket, 'port 8179 must be free for this test');
        foreach (['curl', 'stream'] as $transport) {
            PackEdge::reset();
            PackEdge::init('pk_down', ['endpoint' => self::DOWN_ENDPOINT, 'autoFlush' => false, 'transport' => $transport]);
            PackEdge::track('export');
            PackEdge::flush();
            $sent = PackEdge::instance()->sent()[0];
            $this->assertSame(0, $sent['status'], $transport);
            // Connection refused is answered by the kernel: far under the 1 s connect timeout.
            $this->assertLessThan(0.5, $sent['seconds'], $transport);
        }
    }

    public function testAGatewayErrorIsRetriedOnceWithTheSameUuids(): void
    {
        PackEdge::init('pk_retry', ['endpoint' => self::$flaky->url(), 'autoFlush' => false]);
        PackEdge::track('export');
        PackEdge::track('import');
        PackEdge::flush();

        $requests = self::$flaky->requests();
        $this->assertCount(2, $requests);
        $this->assertSame($requests[0]['body'], $requests[1]['body'], 'same events, same uuids: PackEdge stores them once');
        $sent = PackEdge::instance()->sent()[0];
        $this->assertSame([200, 2], [$sent['status'], $sent['attempts']]);
    }

    public function testARefusedConnectionIsRetriedOnceAtNoCost(): void
    {
        PackEdge::init('pk_down', ['endpoint' => self::DOWN_ENDPOINT, 'autoFlush' => false]);
        PackEdge::track('export');
        PackEdge::flush();
        $sent = PackEdge::instance()->sent()[0];
        $this->assertSame([0, 2], [$sent['status'], $sent['attempts']]);
        $this->assertLessThan(0.5, $sent['seconds']);
    }

    public function testOneFlushStaysWithinTheTotalTimeoutWhateverTheNumberOfBatches(): void
    {
        PackEdge::init('pk_slow_many', ['endpoint' => self::$slow->url(), 'autoFlush' => false, 'maxQueue' => 2500]);
        for ($i = 0; $i < 2300; $i++) {
            PackEdge::track('tick');
        }
        $started = microtime(true);
        PackEdge::flush();
        $seconds = microtime(true) - $started;

        $this->assertLessThan(2.5, $seconds, 'one 2 s budget, not 2 s per batch');
        $this->assertSame([[1000, 0, 1], [1000, 0, 0], [300, 0, 0]], array_map(function ($sent) {
            return [$sent['events'], $sent['status'], $sent['attempts']];
        }, PackEdge::instance()->sent()), 'the first batch timed out (no retry), the others were not tried');
    }

    public function testSlowServerIsAbandonedAtTheTotalTimeout(): void
    {
        PackEdge::init('pk_slow', ['endpoint' => self::$slow->url(), 'autoFlush' => false]);
        PackEdge::track('export');
        PackEdge::flush();
        $sent = PackEdge::instance()->sent()[0];
        $this->assertSame(0, $sent['status'], 'the 4 s server is given up on');
        $this->assertGreaterThanOrEqual(1.9, $sent['seconds']);
        $this->assertLessThan(3.0, $sent['seconds'], 'total timeout 2 s');
    }

    /**
     * The added time per page view: the shutdown flush of 10 events (median of 5), timed in
     * process, and whole page-view processes against the slow server; printed for
     * docs/php-sdk.md and bounded by the configured timeouts (connect 1 s, total 2 s).
     */
    public function testAddedTimePerPageView(): void
    {
        $flush = function (string $endpoint): float {
            $times = [];
            for ($i = 0; $i < 5; $i++) {
                PackEdge::reset();
                PackEdge::init('pk_time', ['endpoint' => $endpoint, 'autoFlush' => false]);
                for ($n = 0; $n < 10; $n++) {
                    PackEdge::track('feature_used', ['feature' => 'export']);
                }
                $started = microtime(true);
                PackEdge::flush();
                $times[] = microtime(true) - $started;
            }
            sort($times);
            return $times[2];
        };
        $up = $flush(self::$receiver->url());
        $down = $flush(self::DOWN_ENDPOINT);
        $slow = $flush(self::$slow->url());
        $pageNone = self::pageView('none', 10);
        $pageSlow = self::pageView(self::$slow->url(), 10);
        fwrite(STDERR, sprintf(
            "\nadded time per page view, 10 events, curl (median of 5): up %.2f ms, down %.2f ms, slow %.0f ms;"
            . " a whole page view against the slow server %.0f ms vs %.0f ms without the SDK\n",
            $up * 1000,
            $down * 1000,
            $slow * 1000,
            $pageSlow * 1000,
            $pageNone * 1000
        ));
        $this->assertLessThan(0.5, $down);
        $this->assertLessThan(2.5, $slow);
        $this->assertLessThan(2.5, $pageSlow - $pageNone);
    }

    // ------------------------------------------------------------ inside WordPress

    /**
     * @runInSeparateProcess
     * @preserveGlobalState disabled
     */
    public function testInWordPressLifecycleEventsGoThroughNonBlockingWpRemotePost(): void
    {
        require __DIR__ . '/fixtures/wordpress_stubs.php';
        $GLOBALS['packedge_test_posts'] = [];

        PackEdge::init('pk_wp', ['licenseKey' => 'MYPLUGIN-XXXX', 'endpoint' => 'https://packedge.test/', 'pluginVersion' => '2.3.1']);
        PackEdge::registerLifecycle('/var/www/wp-content/plugins/my-plugin/my-plugin.php', []);
        $this->assertSame(['activation', 'deactivation'], array_keys($GLOBALS['packedge_test_hooks']));
        call_user_func($GLOBALS['packedge_test_hooks']['activation']);
        $_GET['packedge_reason'] = 'found_better';
        $_GET['packedge_feedback'] = "Missing CSV export\0 ";
        call_user_func($GLOBALS['packedge_test_hooks']['deactivation']);
        PackEdge::track('feature_used', ['feature' => 'export']);
        PackEdge::flush();

        $this->assertCount(1, $GLOBALS['packedge_test_posts']);
        [$url, $args] = $GLOBALS['packedge_test_posts'][0];
        $this->assertSame('https://packedge.test/public/v1/events', $url);
        $this->assertFalse($args['blocking']);
        $this->assertSame(['Content-Type' => 'application/json'], $args['headers']);
        $body = json_decode($args['body'], true);
        [$installed, $uninstalled, $feature] = $body['events'];

        $this->assertSame('product.installed', $installed['event']);
        $this->assertSame('customer.example.org', $installed['site'], 'home_url() host');
        $this->assertSame('MYPLUGIN-XXXX', $installed['license_key']);
        $this->assertSame(
            ['env' => ['php' => PHP_VERSION, 'sdk' => 'php-' . PackEdge::VERSION, 'wp' => '6.4.2', 'plugin' => '2.3.1'], 'plugins' => ['akismet', 'my-plugin', 'hello']],
            $installed['properties']
        );
        $this->assertSame('product.uninstalled', $uninstalled['event']);
        $this->assertSame('found_better', $uninstalled['properties']['reason']);
        $this->assertSame('Missing CSV export', $uninstalled['properties']['feedback']);
        $this->assertSame('6.4.2', $uninstalled['properties']['env']['wp']);
        $this->assertSame('export', $feature['properties']['feature']);
    }

    /**
     * @runInSeparateProcess
     * @preserveGlobalState disabled
     */
    public function testInWordPressTheRequestGoesThroughFsockopenWhichDoesNotWaitForTheAnswer(): void
    {
        require __DIR__ . '/fixtures/wordpress_stubs.php';
        require __DIR__ . '/fixtures/requests_fsockopen_stub.php';
        $GLOBALS['packedge_test_posts'] = [];
        PackEdge::init('pk_wp', ['endpoint' => 'http://packedge.test']);
        PackEdge::track('export');
        PackEdge::flush();

        $this->assertSame('Requests_Transport_fsockopen', $GLOBALS['packedge_test_posts'][0][2]);
        $this->assertSame(1.0, $GLOBALS['packedge_test_posts'][0][1]['timeout'], 'the connect timeout');
        $this->assertArrayNotHasKey('requests-requests.before_request', $GLOBALS['packedge_test_actions'], 'the hook is removed: other requests keep their transport');
    }

    /**
     * @runInSeparateProcess
     * @preserveGlobalState disabled
     */
    public function testTwoPluginsBundlingTheSdkKeepTheirOwnKeysAndQueues(): void
    {
        require __DIR__ . '/fixtures/wordpress_stubs.php';
        $GLOBALS['packedge_test_posts'] = [];
        $first = PackEdge::init('pk_first', ['licenseKey' => 'FIRST-1']);
        PackEdge::registerLifecycle('/wp/plugins/first/first.php');
        $firstActivation = $GLOBALS['packedge_test_hooks']['activation'];
        $second = PackEdge::init('pk_second');
        PackEdge::track('second_feature');
        $first->queue('first_feature');
        call_user_func($firstActivation);
        $this->assertSame($first, PackEdge::init('pk_first'), 'the same key: the same instance, queue kept');
        $first->send();
        $second->send();

        $bodies = array_map(function ($post) {
            return json_decode($post[1]['body'], true);
        }, $GLOBALS['packedge_test_posts']);
        $this->assertSame('pk_first', $bodies[0]['public_key']);
        $this->assertSame(['first_feature', 'product.installed'], array_column($bodies[0]['events'], 'event'));
        $this->assertSame(['FIRST-1', 'FIRST-1'], array_column($bodies[0]['events'], 'license_key'));
        $this->assertSame('pk_second', $bodies[1]['public_key']);
        $this->assertSame(['second_feature'], array_column($bodies[1]['events'], 'event'));
    }

    /**
     * @runInSeparateProcess
     * @preserveGlobalState disabled
     */
    public function testTheFeedbackFormIsPrintedOnThePluginsScreenEscaped(): void
    {
        require __DIR__ . '/fixtures/wordpress_stubs.php';
        PackEdge::registerLifecycle('/var/www/wp-content/plugins/my-plugin/my-plugin.php', ['bad' => '<b>"Broke" it</b>']);
        $this->assertArrayHasKey('admin_footer-plugins.php', $GLOBALS['packedge_test_actions']);
        ob_start();
        call_user_func($GLOBALS['packedge_test_actions']['admin_footer-plugins.php']);
        $html = ob_get_clean();
        $this->assertStringContainsString('value="bad"> &lt;b&gt;&quot;Broke&quot; it&lt;/b&gt;</label>', $html);
        $this->assertStringContainsString('tr[data-plugin="my-plugin\/my-plugin.php"] .deactivate a', $html);
        $this->assertStringContainsString('name="packedge_feedback"', $html);
    }

    /**
     * @runInSeparateProcess
     * @preserveGlobalState disabled
     */
    public function testWithoutAFormDeactivationSendsNoReason(): void
    {
        require __DIR__ . '/fixtures/wordpress_stubs.php';
        $GLOBALS['packedge_test_posts'] = [];
        PackEdge::init('pk_wp');
        PackEdge::registerLifecycle('/var/www/wp-content/plugins/my-plugin/my-plugin.php');
        $this->assertArrayNotHasKey('admin_footer-plugins.php', $GLOBALS['packedge_test_actions']);
        call_user_func($GLOBALS['packedge_test_hooks']['deactivation']);
        PackEdge::flush();
        $event = json_decode($GLOBALS['packedge_test_posts'][0][1]['body'], true)['events'][0];
        $this->assertSame('product.uninstalled', $event['event']);
        $this->assertSame(['env'], array_keys($event['properties']));
        $this->assertArrayNotHasKey('license_key', $event);
    }
}
