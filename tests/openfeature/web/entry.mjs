// Bundled by esbuild (tests/openfeature/test_web_sdk.py) into bundle/openfeature.js: the stock
// packages as a site would ship them, exposed to the test page as window.openfeature.
import { OpenFeature } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

window.openfeature = { OpenFeature, OFREPWebProvider };
