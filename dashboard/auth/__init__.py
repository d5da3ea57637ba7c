"""Who may act: logins, roles, the audit log, CSRF, rate limits and security headers."""
