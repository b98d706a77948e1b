"""Development helpers: a throwaway server, sample exports, the demo. Not in the Lambda image."""
