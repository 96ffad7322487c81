//! Integration tests of the schema, on PostgreSQL and SQLite.

mod constraints;
mod migrations;
