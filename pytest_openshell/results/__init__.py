"""The result model every output (terminal, JSON, report, JUnit) is built from."""
