"""Every evaluation and benchmark (`qa eval …`, `qa bench …`). The product never imports this package."""
