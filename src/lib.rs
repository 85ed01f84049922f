//! trtc-preflight: the application. It knows TRTC (the catalog and diagnosis), reads the
//! command line and profiles into a plan, runs the probes and hands the report to the renderers.
