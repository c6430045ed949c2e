import Testing

@Test func ProxyTestsBuilds() {
    #expect(Bool(true))
}
