/// The Capture module. See docs/ARCHITECTURE.md.
public enum CaptureModule {}
