'use strict'
// Debug logs the Node way: NODE_DEBUG=solid-client-authn-native. Each request to an identity
// provider (method, URL, status, time), each restore and background refresh and why, each storage
// failure. Never a token, secret, code or key: what is logged is chosen here, field by field.

const { debuglog } = require('node:util')

const debug = debuglog('solid-client-authn-native')

module.exports = { debug }
