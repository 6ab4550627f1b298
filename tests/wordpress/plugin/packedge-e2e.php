<?php
/**
 * Plugin Name: PackEdge E2E
 * Description: The test plugin of tests/wordpress/run_wordpress.py: the PackEdge PHP SDK as a vendor bundles it.
 * Version: 1.0.0
 * License: MIT
 */

if (!defined('ABSPATH')) {
    exit;
}

// The SDK copied as one file, as docs/php-sdk.md describes (another plugin may have loaded it already).
if (!class_exists('\PackEdge\PackEdge')) {
    require_once __DIR__ . '/PackEdge.php';
}

// Written by the driver: publicKey, endpoint, licenseKey, timingLog.
$GLOBALS['packedge_e2e_config'] = $packedge_e2e_config = require __DIR__ . '/config.php';

// ?packedge_license=0 : a page view of a site without a license key.
$packedge_e2e_license = (isset($_GET['packedge_license']) && $_GET['packedge_license'] === '0')
    ? null
    : $packedge_e2e_config['licenseKey'];

$packedge_e2e = \PackEdge\PackEdge::init($packedge_e2e_config['publicKey'], [
    'licenseKey' => $packedge_e2e_license,
    'endpoint' => $packedge_e2e_config['endpoint'],
    'pluginVersion' => '1.0.0',
]);
// product.installed on activation, product.uninstalled on deactivation, with the feedback form.
\PackEdge\PackEdge::registerLifecycle(__FILE__, [], $packedge_e2e);

// ?packedge_features=export,import : the features this page view "uses".
add_action('template_redirect', function () use ($packedge_e2e) {
    if (empty($_GET['packedge_features']) || !is_string($_GET['packedge_features']) || $packedge_e2e === null) {
        return;
    }
    foreach (explode(',', sanitize_text_field(wp_unslash($_GET['packedge_features']))) as $feature) {
        $packedge_e2e->queue('feature_used', ['feature' => $feature]);
    }
    // ?packedge_measure=1 : send now rather than at shutdown, and log how long the send took.
    if (!empty($_GET['packedge_measure'])) {
        $started = microtime(true);
        $packedge_e2e->send();
        file_put_contents($GLOBALS['packedge_e2e_config']['timingLog'], (microtime(true) - $started) . "\n", FILE_APPEND);
    }
});
