"""Phone channel: IVR/ASR call events (generic JSON webhook and TwiML)."""
