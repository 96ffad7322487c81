//! Integration tests of the ingestor, through its binary and its library.

mod cli;
