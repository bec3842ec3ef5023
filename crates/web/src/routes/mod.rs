pub mod access;
pub mod events;
pub mod models;
pub mod ops;
pub mod payments;
pub mod players;
pub mod segments;
pub mod system;
