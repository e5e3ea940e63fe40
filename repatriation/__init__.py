"""The application shell: settings, logging, the service layer, the CLI and the embedded stack."""
