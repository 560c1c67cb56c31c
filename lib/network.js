'use strict'
// Process-wide settings of the requests made to identity providers.

const native = require('../binding.js')
const { invalidArgument } = require('./errors.js')

/**
 * Refuses (true) or allows (false, the default) requests to identity providers whose host is, or
 * resolves to, an address off the public internet. For servers whose users name their own
 * provider.
 */
function setBlockPrivateNetworks(block) {
  if (typeof block !== 'boolean') throw invalidArgument(`setBlockPrivateNetworks expects true or false, got ${typeof block}`)
  native.setBlockPrivateNetworks(block)
}

module.exports = { setBlockPrivateNetworks }
