//! skipwalk RTL.
