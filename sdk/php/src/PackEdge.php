<?php
/**
 * PackEdge PHP SDK: usage events from a plugin or PHP product, sent as one batch at shutdown.
 *
 * One file, no dependency, PHP 7.4 to 8.3. Copy it into a plugin or install it with
 * Composer (packedge/packedge-php). Nothing here throws or waits long: analytics must
 * never break or slow the page that calls it.
 *
 *     \PackEdge\PackEdge::init('pk_…', ['licenseKey' => $key]);
 *     \PackEdge\PackEdge::track('feature_used', ['feature' => 'export']);
 *
 * @see https://github.com/packedge/packedge (docs/php-sdk.md)
 */

namespace PackEdge;

final class PackEdge
{
    public const VERSION = '0.1.0';
    public const DEFAULT_ENDPOINT = 'https://api.packedge.dev';
    public const BATCH_PATH = '/public/v1/events';

    /** The ingestion contract's limits: 1–1000 events and at most 1 MiB per batch, 32 KiB of properties. */
    public const MAX_BATCH_EVENTS = 1000;
    public const MAX_BATCH_BYTES = 1000000;
    public const MAX_PROPERTIES_BYTES = 32768;
    public const MAX_NAME_LENGTH = 200;

    public const INSTALLED = 'product.installed';
    public const UNINSTALLED = 'product.uninstalled';

    /** The deactivation form's reasons: value => label. A vendor may pass its own to feedbackForm(). */
    public const DEFAULT_REASONS = [
        'no_longer_needed' => 'I no longer need the plugin',
        'found_better' => 'I found a better plugin',
        'broke_site' => 'It broke my site',
        'not_working' => "I couldn't get it to work",
        'temporary' => "It's a temporary deactivation",
        'other' => 'Other',
    ];

    /** @var PackEdge|null the instance the last init() returned, which the static track() feeds */
    private static $default;
    /** @var array<string,PackEdge> by public key */
    private static $instances = [];

    /** @var string */
    private $publicKey;
    /** @var array<string,mixed> */
    private $options;
    /** @var array<int,array<string,mixed>> events waiting for the shutdown flush */
    private $queue = [];
    /** @var bool */
    private $shutdownRegistered = false;
    /** @var string|null */
    private $site;
    /** @var array<int,array<string,mixed>> each batch sent: events, status (null: not waited for), attempts, seconds */
    private $sent = [];

    /**
     * @param array<string,mixed> $options licenseKey, endpoint, site, connectTimeout (s, default 1),
     *        timeout (s, default 2), transport ('auto', 'wordpress', 'curl', 'stream'),
     *        maxQueue (default 1000), autoFlush (default true: send at shutdown), pluginVersion
     */
    public function __construct(string $publicKey, array $options = [])
    {
        $this->publicKey = $publicKey;
        $this->options = $options + [
            'licenseKey' => null,
            'endpoint' => self::DEFAULT_ENDPOINT,
            'site' => null,
            'connectTimeout' => 1.0,
            'timeout' => 2.0,
            'transport' => 'auto',
            'maxQueue' => self::MAX_BATCH_EVENTS,
            'autoFlush' => true,
            'pluginVersion' => null,
        ];
    }

    // ------------------------------------------------------------ the static facade

    /**
     * Configure the SDK for this request; later track() calls queue events for it.
     *
     * @param array<string,mixed> $options see the constructor
     */
    public static function init($publicKey, $options = []): ?self
    {
        try {
            // Untyped parameters: a caller with strict_types must not get a TypeError from us.
            if (!is_string($publicKey) || !is_array($options)) {
                return null;
            }
            // One instance per public key: in WordPress several plugins may bundle this SDK, each
            // with its own key; re-initialising one key updates its options and keeps its queue.
            if (isset(self::$instances[$publicKey])) {
                self::$instances[$publicKey]->options = $options + self::$instances[$publicKey]->options;
                self::$instances[$publicKey]->site = null;
            } else {
                self::$instances[$publicKey] = new self($publicKey, $options);
            }
            self::$default = self::$instances[$publicKey];
            return self::$default;
        } catch (\Throwable $error) {
            return null;
        }
    }

    /**
     * @param string $event
     * @param array<string,mixed> $properties
     */
    public static function track($event, $properties = []): void
    {
        if (self::$default !== null) {
            self::$default->queue($event, $properties);
        }
    }

    /** Send what is queued now rather than at shutdown (a long-running worker, a CLI command). */
    public static function flush(): void
    {
        if (self::$default !== null) {
            self::$default->send();
        }
    }

    public static function instance(): ?self
    {
        return self::$default;
    }

    /** Forget the default instance and its queue, unsent (tests). */
    public static function reset(): void
    {
        self::$default = null;
        self::$instances = [];
    }

    // ------------------------------------------------------------ queueing

    /**
     * Queue one event; invalid ones are dropped here, since the batch endpoint refuses a whole
     * batch for one bad event.
     *
     * @param string $event
     * @param array<string,mixed> $properties
     */
    public function queue($event, $properties = []): bool
    {
        try {
            if (is_object($properties)) {
                $properties = get_object_vars($properties);
            }
            if (!is_string($event) || !is_array($properties)) {
                return false;
            }
            if (!self::nameValid($event) || count($this->queue) >= (int) $this->options['maxQueue']) {
                return false;
            }
            if ($event === 'feature_used' && isset($properties['feature']) && is_string($properties['feature'])
                && trim($properties['feature']) !== '' && !self::nameValid($properties['feature'])) {
                return false;
            }
            $json = self::json((object) $properties, 60);
            // Deeper than 60 levels cannot be encoded even partially: drop it, not the whole batch.
            if (json_last_error() === JSON_ERROR_DEPTH) {
                return false;
            }
            // PackEdge refuses NUL characters (PostgreSQL's jsonb cannot hold them) and over 32 KiB.
            if ($json === null || strlen($json) > self::MAX_PROPERTIES_BYTES || strpos($json, '\u0000') !== false) {
                return false;
            }
            $item = [
                'event' => $event,
                // Decoded back so that the batch is encoded once, exactly as checked here.
                'properties' => json_decode($json),
                'uuid' => self::uuid4(),
                'timestamp' => gmdate('Y-m-d\TH:i:s\Z'),
            ];
            $license = $this->options['licenseKey'];
            if (is_string($license) && trim($license) !== '' && strlen($license) <= 200) {
                $item['license_key'] = $license;
            }
            $site = $this->site();
            if ($site !== '') {
                $item['site'] = $site;
            }
            $this->queue[] = $item;
            if ($this->options['autoFlush'] && !$this->shutdownRegistered) {
                $this->shutdownRegistered = true;
                register_shutdown_function([$this, 'onShutdown']);
            }
            return true;
        } catch (\Throwable $error) {
            return false;
        }
    }

    /** @return array<int,array<string,mixed>> */
    public function queued(): array
    {
        return $this->queue;
    }

    /** @return array<int,array<string,mixed>> */
    public function sent(): array
    {
        return $this->sent;
    }

    /** @internal the shutdown hook: re-registers itself so that it runs after the host's own hooks. */
    public function onShutdown(bool $last = false): void
    {
        try {
            if (!$last) {
                register_shutdown_function([$this, 'onShutdown'], true);
                return;
            }
            $this->send();
        } catch (\Throwable $error) {
            // Never let analytics surface in a customer's page or log as a fatal error.
        }
    }

    // ------------------------------------------------------------ sending

    /** Send the queue as one request (more only past 1000 events or 1 MB); never throws. */
    public function send(): void
    {
        try {
            $events = $this->queue;
            $this->queue = [];
            if ($events === []) {
                return;
            }
            // One budget for the whole flush, however many batches and attempts it takes.
            $deadline = microtime(true) + (float) $this->options['timeout'];
            foreach ($this->batches($events) as $batch) {
                $body = self::json(['public_key' => $this->publicKey, 'events' => $batch]);
                $remaining = $deadline - microtime(true);
                if ($body === null || $remaining < 0.05) {
                    $this->sent[] = ['events' => count($batch), 'status' => 0, 'attempts' => 0, 'seconds' => 0.0];
                    continue;
                }
                $started = microtime(true);
                $status = $this->post($body, $remaining);
                $attempts = 1;
                // One quick retry of the same body, whose uuids make it stored once: a refused
                // connection or a gateway error of a restarting server, if time is left.
                if (($status === 0 || in_array($status, [502, 503, 504], true))
                    && microtime(true) - $started < 0.5 && $deadline - microtime(true) >= 0.5) {
                    $status = $this->post($body, $deadline - microtime(true));
                    $attempts = 2;
                }
                $this->sent[] = [
                    'events' => count($batch),
                    'status' => $status,
                    'attempts' => $attempts,
                    'seconds' => microtime(true) - $started,
                ];
            }
        } catch (\Throwable $error) {
            // Dropped: the page matters more than its analytics.
        }
    }

    /**
     * @param array<int,array<string,mixed>> $events
     * @return array<int,array<int,array<string,mixed>>>
     */
    private function batches(array $events): array
    {
        $batches = [];
        $current = [];
        $bytes = 100;
        foreach ($events as $event) {
            $size = strlen((string) self::json($event)) + 1;
            if ($current !== [] && (count($current) >= self::MAX_BATCH_EVENTS || $bytes + $size > self::MAX_BATCH_BYTES)) {
                $batches[] = $current;
                $current = [];
                $bytes = 100;
            }
            $current[] = $event;
            $bytes += $size;
        }
        if ($current !== []) {
            $batches[] = $current;
        }
        return $batches;
    }

    /** The HTTP status of the batch request: 0 for a network failure, null for a non-blocking send. */
    private function post(string $body, float $timeout): ?int
    {
        $url = rtrim((string) $this->options['endpoint'], '/') . self::BATCH_PATH;
        $transport = $this->options['transport'];
        if ($transport === 'auto') {
            if (function_exists('wp_remote_post')) {
                $transport = 'wordpress';
            } elseif (function_exists('curl_init')) {
                $transport = 'curl';
            } else {
                $transport = 'stream';
            }
        }
        if ($transport === 'wordpress') {
            return $this->postWordPress($url, $body);
        }
        if ($transport === 'curl') {
            return $this->postCurl($url, $body, $timeout);
        }
        return $this->postStream($url, $body, $timeout);
    }

    private function postWordPress(string $url, string $body): ?int
    {
        // 'blocking' => false alone is not enough: WordPress's cURL transport still waits for the
        // answer, at least 1 s, when the server accepted the connection but is slow. Its fsockopen
        // transport writes the request and closes, so this one request is sent through it.
        $transport = self::wordPressSocketTransport($url);
        $hook = null;
        if ($transport !== null && function_exists('add_action')) {
            $hook = function (&$url, &$headers, &$data, &$type, &$options) use ($transport) {
                $options['transport'] = $transport;
            };
            add_action('requests-requests.before_request', $hook, 10, 5);
        }
        try {
            wp_remote_post($url, [
                'blocking' => false,
                // With fsockopen: the connect timeout; with cURL: the whole wait.
                'timeout' => (float) $this->options['connectTimeout'],
                'headers' => ['Content-Type' => 'application/json'],
                'body' => $body,
                'data_format' => 'body',
                'user-agent' => 'packedge-php/' . self::VERSION,
            ]);
        } finally {
            if ($hook !== null) {
                remove_action('requests-requests.before_request', $hook, 10);
            }
        }
        return null;
    }

    /** Requests' fsockopen transport class (its name differs before WordPress 6.2), when usable. */
    private static function wordPressSocketTransport(string $url): ?string
    {
        $capabilities = ['ssl' => stripos($url, 'https://') === 0];
        foreach (['WpOrg\\Requests\\Transport\\Fsockopen', 'Requests_Transport_fsockopen'] as $class) {
            // WpOrg\Requests first: from 6.2 on, the old name is a deprecated alias.
            if (class_exists($class)) {
                return $class::test($capabilities) ? $class : null;
            }
        }
        return null;
    }

    private function postCurl(string $url, string $body, float $timeout): int
    {
        $handle = curl_init($url);
        if ($handle === false) {
            return 0;
        }
        curl_setopt_array($handle, [
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $body,
            CURLOPT_HTTPHEADER => ['Content-Type: application/json', 'Expect:'],
            CURLOPT_USERAGENT => 'packedge-php/' . self::VERSION,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_CONNECTTIMEOUT_MS => (int) round(min((float) $this->options['connectTimeout'], $timeout) * 1000),
            CURLOPT_TIMEOUT_MS => (int) round($timeout * 1000),
            // Millisecond timeouts need this with the system resolver (it uses alarm()).
            CURLOPT_NOSIGNAL => true,
            CURLOPT_FOLLOWLOCATION => false,
        ]);
        $result = curl_exec($handle);
        $status = $result === false ? 0 : (int) curl_getinfo($handle, CURLINFO_RESPONSE_CODE);
        curl_close($handle);
        return $status;
    }

    private function postStream(string $url, string $body, float $timeout): int
    {
        $context = stream_context_create([
            'http' => [
                'method' => 'POST',
                'header' => "Content-Type: application/json\r\nUser-Agent: packedge-php/" . self::VERSION . "\r\n",
                'content' => $body,
                'timeout' => $timeout,
                'ignore_errors' => true,
            ],
        ]);
        $stream = @fopen($url, 'rb', false, $context);
        if ($stream === false) {
            return 0;
        }
        $meta = stream_get_meta_data($stream);
        fclose($stream);
        $statusLine = isset($meta['wrapper_data'][0]) ? (string) $meta['wrapper_data'][0] : '';
        return preg_match('#^HTTP/\S+\s+(\d{3})#', $statusLine, $match) ? (int) $match[1] : 0;
    }

    // ------------------------------------------------------------ WordPress lifecycle helpers

    /**
     * Hook activation and deactivation of the plugin whose main file is $pluginFile: activation
     * sends product.installed, deactivation product.uninstalled (with the feedback form's answer
     * when the optional form is on). Call it from the plugin's main file.
     *
     * @param array<string,string>|null $reasons null: no feedback form; [] : the default reasons
     */
    public static function registerLifecycle(string $pluginFile, ?array $reasons = null, ?self $client = null): void
    {
        try {
            if (!function_exists('register_activation_hook')) {
                return;
            }
            // Bound now to this plugin's instance: another plugin's init() must not take its events.
            $client = $client ?? self::$default;
            register_activation_hook($pluginFile, function () use ($client) {
                self::activated($client);
            });
            register_deactivation_hook($pluginFile, function () use ($client) {
                self::deactivated($client);
            });
            if ($reasons !== null) {
                self::feedbackForm($pluginFile, $reasons === [] ? self::DEFAULT_REASONS : $reasons);
            }
        } catch (\Throwable $error) {
        }
    }

    /** Activation hook: product.installed with the site's environment and active plugins. */
    public static function activated(?self $client = null): void
    {
        $client = $client ?? self::$default;
        if ($client !== null) {
            $client->queue(self::INSTALLED, ['env' => self::environment($client), 'plugins' => self::activePlugins()]);
        }
    }

    /** Deactivation hook: product.uninstalled, with the reason the form sent in this request, if any. */
    public static function deactivated(?self $client = null): void
    {
        try {
            $reason = '';
            $feedback = '';
            // The form's answer travels in the deactivation link's query string (see feedbackForm()).
            if (isset($_GET['packedge_reason']) && is_string($_GET['packedge_reason'])) {
                $reason = self::clean($_GET['packedge_reason'], 100);
            }
            if (isset($_GET['packedge_feedback']) && is_string($_GET['packedge_feedback'])) {
                $feedback = self::clean($_GET['packedge_feedback'], 2000);
            }
            self::uninstalled($reason, $feedback, $client);
        } catch (\Throwable $error) {
        }
    }

    /** product.uninstalled with a reason and free-text feedback (either may be empty). */
    public static function uninstalled(string $reason = '', string $feedback = '', ?self $client = null): void
    {
        $client = $client ?? self::$default;
        if ($client === null) {
            return;
        }
        $properties = ['env' => self::environment($client)];
        if ($reason !== '') {
            $properties['reason'] = $reason;
        }
        if ($feedback !== '') {
            $properties['feedback'] = $feedback;
        }
        $client->queue(self::UNINSTALLED, $properties);
    }

    /** @return array<string,string> php, wp (inside WordPress), sdk and the plugin's version if given */
    public static function environment(?self $client = null): array
    {
        $env = ['php' => PHP_VERSION, 'sdk' => 'php-' . self::VERSION];
        try {
            if (function_exists('get_bloginfo')) {
                $env['wp'] = (string) get_bloginfo('version');
            }
            $client = $client ?? self::$default;
            if ($client !== null && is_string($client->options['pluginVersion'])) {
                $env['plugin'] = $client->options['pluginVersion'];
            }
            if (function_exists('is_multisite') && is_multisite()) {
                $env['multisite'] = 'yes';
            }
        } catch (\Throwable $error) {
        }
        return $env;
    }

    /** @return array<int,string> slugs of the site's active plugins (folder names), at most 200 */
    public static function activePlugins(): array
    {
        try {
            if (!function_exists('get_option')) {
                return [];
            }
            $active = get_option('active_plugins', []);
            $slugs = [];
            foreach (is_array($active) ? $active : [] as $file) {
                if (is_string($file)) {
                    $slug = strpos($file, '/') !== false ? dirname($file) : basename($file, '.php');
                    $slugs[] = self::clean($slug, 100);
                }
            }
            return array_slice(array_values(array_unique($slugs)), 0, 200);
        } catch (\Throwable $error) {
            return [];
        }
    }

    /**
     * The optional deactivation-feedback form on the Plugins screen: clicking "Deactivate" opens
     * a small dialog (reasons + free text); its answer is added to the deactivation link, which
     * the deactivation hook reads. "Skip" deactivates without a reason.
     *
     * @param array<string,string> $reasons value => label
     */
    public static function feedbackForm(string $pluginFile, array $reasons = self::DEFAULT_REASONS): void
    {
        try {
            if (!function_exists('add_action') || !function_exists('plugin_basename')) {
                return;
            }
            $basename = plugin_basename($pluginFile);
            add_action('admin_footer-plugins.php', function () use ($basename, $reasons) {
                echo self::feedbackFormHtml($basename, $reasons);
            });
        } catch (\Throwable $error) {
        }
    }

    /** @param array<string,string> $reasons */
    public static function feedbackFormHtml(string $basename, array $reasons): string
    {
        $esc = function ($text): string {
            return htmlspecialchars((string) $text, ENT_QUOTES, 'UTF-8');
        };
        $options = '';
        foreach ($reasons as $value => $label) {
            $options .= '<label style="display:block;margin:4px 0"><input type="radio" name="packedge_reason" value="'
                . $esc($value) . '"> ' . $esc($label) . '</label>';
        }
        $id = 'packedge-feedback-' . substr(md5($basename), 0, 8);
        // Plain JS, no jQuery: the row's deactivate link is found by the plugin's basename.
        return '<div id="' . $id . '" style="display:none;position:fixed;inset:0;background:rgba(0,0,0,.5);z-index:100000">'
            . '<form role="dialog" aria-modal="true" aria-labelledby="' . $id . '-title"'
            . ' style="background:#fff;max-width:480px;margin:10vh auto;padding:20px;border-radius:4px">'
            . '<h2 id="' . $id . '-title" style="margin-top:0">Quick feedback</h2><p>Why are you deactivating?</p>' . $options
            . '<textarea name="packedge_feedback" maxlength="2000" rows="3" style="width:100%"'
            . ' aria-label="Feedback" placeholder="Anything we could do better? (optional)"></textarea>'
            . '<p><button type="submit" class="button button-primary">Submit &amp; deactivate</button> '
            . '<a href="#" class="packedge-skip" style="margin-left:8px">Skip &amp; deactivate</a> '
            . '<a href="#" class="packedge-cancel" style="margin-left:8px">Cancel</a></p></form></div>'
            . '<script>(function(){var box=document.getElementById(' . json_encode($id) . ');'
            . 'var link=document.querySelector(\'tr[data-plugin=' . json_encode($basename)
            . '] .deactivate a\');if(!box||!link)return;var href=link.href;'
            . 'function close(){box.style.display="none";link.focus();}'
            . 'link.addEventListener("click",function(e){e.preventDefault();box.style.display="block";'
            . 'box.querySelector("input,textarea").focus();});'
            . 'box.addEventListener("keydown",function(e){if(e.key==="Escape")close();});'
            . 'box.querySelector(".packedge-cancel").addEventListener("click",function(e){e.preventDefault();close();});'
            . 'box.querySelector(".packedge-skip").addEventListener("click",function(e){e.preventDefault();location.href=href;});'
            . 'box.querySelector("form").addEventListener("submit",function(e){e.preventDefault();var f=new FormData(this);'
            . 'var q="&packedge_reason="+encodeURIComponent(f.get("packedge_reason")||"")'
            . '+"&packedge_feedback="+encodeURIComponent(f.get("packedge_feedback")||"");location.href=href+q;});})();</script>';
    }

    // ------------------------------------------------------------ small helpers

    /** The host of the site: home_url() in WordPress, else the `site` option, else the request's host. */
    private function site(): string
    {
        if ($this->site !== null) {
            return $this->site;
        }
        $url = '';
        if (is_string($this->options['site']) && $this->options['site'] !== '') {
            $url = $this->options['site'];
        } elseif (function_exists('home_url')) {
            $url = (string) home_url();
        } elseif (isset($_SERVER['HTTP_HOST']) && is_string($_SERVER['HTTP_HOST'])) {
            $url = $_SERVER['HTTP_HOST'];
        }
        $host = parse_url(strpos($url, '//') === false ? '//' . $url : $url, PHP_URL_HOST);
        $this->site = is_string($host) ? strtolower(rtrim($host, '.')) : '';
        return $this->site;
    }

    /** Whether the ingestion contract accepts this event name (1–200 characters, not blank, no control characters). */
    public static function nameValid(string $name): bool
    {
        if (trim($name) === '' || preg_match('//u', $name) !== 1) {
            return false;
        }
        $length = function_exists('mb_strlen') ? mb_strlen($name, 'UTF-8') : strlen($name);
        // Control characters, and invisible format characters such as U+200B, which PackEdge refuses.
        return $length <= self::MAX_NAME_LENGTH && preg_match('/[\p{Cc}\p{Cf}]/u', $name) !== 1;
    }

    /** Text safe to send: valid UTF-8, no control characters, at most $max characters. */
    private static function clean(string $text, int $max): string
    {
        if (function_exists('mb_convert_encoding')) {
            $text = mb_convert_encoding($text, 'UTF-8', 'UTF-8');
        }
        $text = trim((string) preg_replace('/[\x00-\x09\x0b-\x1f\x7f]/', '', $text));
        return function_exists('mb_substr') ? mb_substr($text, 0, $max, 'UTF-8') : substr($text, 0, $max);
    }

    /** @param mixed $value */
    private static function json($value, int $depth = 512): ?string
    {
        $flags = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE
            | JSON_PARTIAL_OUTPUT_ON_ERROR | JSON_PRESERVE_ZERO_FRACTION;
        $json = json_encode($value, $flags, $depth);
        return is_string($json) ? $json : null;
    }

    /** A random RFC 4122 version 4 uuid: the event's idempotency key, so a resend is stored once. */
    public static function uuid4(): string
    {
        try {
            $bytes = random_bytes(16);
        } catch (\Throwable $error) {
            $bytes = md5(uniqid('', true) . mt_rand(), true);
        }
        $bytes[6] = chr((ord($bytes[6]) & 0x0f) | 0x40);
        $bytes[8] = chr((ord($bytes[8]) & 0x3f) | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($bytes), 4));
    }
}
