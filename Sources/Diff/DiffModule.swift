/// The Diff module. See docs/ARCHITECTURE.md.
public enum DiffModule {}
