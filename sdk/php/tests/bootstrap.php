<?php
// Composer's autoloader when there is one; else the SDK's single file (what a vendor copying it does).
$autoload = __DIR__ . '/../vendor/autoload.php';
if (is_file($autoload)) {
    require $autoload;
} else {
    require __DIR__ . '/../src/PackEdge.php';
}
require __DIR__ . '/Receiver.php';
