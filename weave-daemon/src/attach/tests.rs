//! Unit tests of the service's step order and rollback.
