//! What tests need beyond the module they test: support shared by every test (`support`: an
//! executor, a host answering from a map, an OpenID provider in process behind the HTTP seam),
//! the generators and fake HTTP of the property tests (`property_support`), and the tests of
//! whole grant flows against that provider (`flows`).

#[cfg(test)]
mod flows;
#[cfg(test)]
pub(crate) mod property_support;
pub mod support;
