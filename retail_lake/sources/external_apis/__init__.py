"""External REST APIs polled on a schedule (weather per store location, competitor prices, the promotions calendar):
a resilient HTTP client (`client`) and the poller that lands every page in raw (`poller`)."""
