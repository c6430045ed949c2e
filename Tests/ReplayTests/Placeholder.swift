import Testing

@Test func ReplayTestsBuilds() {
    #expect(Bool(true))
}
