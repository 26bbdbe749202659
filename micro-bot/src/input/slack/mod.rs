//! Slack in socket mode.
