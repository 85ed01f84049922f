//! STUN client side: binding requests and the transaction engine (to be written).
