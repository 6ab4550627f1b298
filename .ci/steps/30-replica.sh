#!/usr/bin/env bash
# Issue 24: Feature Usage from a real streaming hot standby (private clusters on 8621/8622), at most 30 s of load.
set -euo pipefail
timeout 600 make replica-test
