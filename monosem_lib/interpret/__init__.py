"""Stage 4 (notebook 04): feature statistics, dashboards and browser, autointerp, proxies, splitting."""
