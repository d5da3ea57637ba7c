"""Background workers on the readings stream (alarm engine, recorder) and outbound notifications."""
