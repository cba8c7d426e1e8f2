"""Following feeds and pages: the source list (sources), polite conditional fetching (fetch), the state kept in
the index (state), the polling rounds (poller), what the app shows (status) and retention (retention)."""
