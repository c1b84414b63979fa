"""The suites use the plugin's fixtures only; nothing here but what pytest needs to find them."""
