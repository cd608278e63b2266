//! `masthead projector`: applies the event stream to the read models.

pub mod generation;
