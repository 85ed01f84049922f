//! trtc-preflight: the application. It knows TRTC (the catalog and diagnosis), reads the
//! command line and profiles into a plan, runs the probes and hands the report to the renderers.
pub mod agent;
pub mod answer;
pub mod app;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod diagnose;
pub mod explain;
pub mod faults;
pub mod offline;
pub mod plan;
pub mod runner;
pub mod secret;
pub mod serve;
pub mod signal_server;
pub mod time;
pub mod tlssig;
