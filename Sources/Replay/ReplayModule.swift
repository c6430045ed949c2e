/// The Replay module. See docs/ARCHITECTURE.md.
public enum ReplayModule {}
