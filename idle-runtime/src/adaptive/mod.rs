//! The adaptive timeout (`timeout = "auto"`): the server chooses its own
//! idle timeout from the idle gaps it has seen, to minimise what the user
//! pays, idle seconds billed plus cold starts.
//!
//! - [`policy`](self#the-policy): the pure rule, [`Learning`]; its module
//!   docs state the cost model and the bound it guarantees.
//!
//! # The policy
//!
//! See [`Learning`] and [`gap_cost`]. With no history the timeout is
//! `cold_start_cost` (break-even, never worse than twice the clairvoyant
//! optimum); with history it is the timeout that would have cost least over
//! the recent gaps, unless that has lately cost more than break-even would
//! have, in which case it is break-even again.

mod policy;

pub use policy::{
    gap_cost, Histogram, Learning, TimeoutSource, BINS, DECAY, MAX_TIMEOUT, MIN_TIMEOUT,
};
