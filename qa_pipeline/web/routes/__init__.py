"""The web app's pages, one router per area: sign-in, queue and search, a call, the QA lead's pages, the
agent's pages, HR's scorecards."""
