import Testing

@Test func HarnessCoreTestsBuilds() {
    #expect(Bool(true))
}
