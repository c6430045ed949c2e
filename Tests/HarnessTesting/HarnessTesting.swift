/// Shared test helpers: temp dirs, sample exchanges, servers on ephemeral ports.
public enum HarnessTestingModule {}
