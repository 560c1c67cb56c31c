'use strict'
// A CommonJS module, as an app's own CommonJS code would load the package.
const api = require('solid-client-authn-native')

module.exports = { api, resolved: require.resolve('solid-client-authn-native') }
