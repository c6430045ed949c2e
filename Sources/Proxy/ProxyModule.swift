/// The Proxy module. See docs/ARCHITECTURE.md.
public enum ProxyModule {}
