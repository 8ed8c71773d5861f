//! Policy: who may send to which address.
