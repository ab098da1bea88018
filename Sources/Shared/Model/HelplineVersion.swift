/// The release version of Helpline, the one place it is written: the agent's and the
/// collector's `--version`, every manifest and heartbeat, and the .deb files that
/// `packaging/build.sh` makes (it asks the built binary) all take it from here.
public enum HelplineVersion {
    /// The version, `MAJOR.MINOR.PATCH`; also the Debian package version.
    public static let current = "0.1.0"
}
