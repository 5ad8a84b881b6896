//! Settings: `config init` writes a private file and never overwrites it silently; a token in a
//! file others can read is refused; the token is never taken from the command line; flags,
//! environment and config file each work, and a wrong URL or CA is a transport error (exit 2).

use super::harness::{chmod, mode, run, Server};

#[test]
fn config_init_refuses_a_world_readable_token_file_and_writes_a_private_config() {
    let s = Server::start();
    let config = s.work.join("ops.toml");
    let config_arg = config.to_str().unwrap();
    let init = |extra: &[&str]| {
        let mut args = vec![
            "--config",
            config_arg,
            "config",
            "init",
            "--url",
            &s.url,
            "--ca",
            "srv/tls/fleet-ca.pem",
            "--token-file",
            "admin.token",
        ];
        args.extend(extra);
        run(&mut s.bare(), &args)
    };

    chmod(&s.token_file, 0o644);
    let refused = init(&[]).fails(2, "mode 0644");
    assert!(refused.stderr.contains("chmod 600"), "{refused:?}");
    assert!(!config.exists(), "nothing written");
    // The same rule at run time, whichever way the file is named.
    run(&mut s.otactl(), &["release", "list"]).fails(2, "readable by group or others");

    chmod(&s.token_file, 0o600);
    let done = init(&[]).ok();
    assert!(done.stdout.is_empty(), "{done:?}");
    assert!(done.stderr.contains("ops.toml"), "{done:?}");
    assert_eq!(mode(&config), 0o600);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(&format!("url = \"{}\"", s.url)), "{text}");
    assert!(!text.contains("ota_"), "the token itself stays in its file:\n{text}");
    // Absolute paths: the config works from any directory.
    let mut elsewhere = s.bare();
    elsewhere.current_dir("/");
    run(&mut elsewhere, &["--config", config_arg, "release", "list"]).ok();

    init(&[]).fails(2, "already exists");
    init(&["--force"]).ok();
}

#[test]
fn default_config_file_environment_and_flags_each_configure_otactl() {
    let s = Server::start();
    // $XDG_CONFIG_HOME/otactl/config.toml is the default config file.
    let xdg = s.work.join("xdg");
    let with_xdg = || {
        let mut c = s.bare();
        c.env("XDG_CONFIG_HOME", &xdg);
        c
    };
    let url = s.url.as_str();
    run(
        &mut with_xdg(),
        &[
            "config",
            "init",
            "--url",
            url,
            "--ca",
            "srv/tls/fleet-ca.pem",
            "--token-file",
            "admin.token",
        ],
    )
    .ok();
    assert_eq!(mode(&xdg.join("otactl/config.toml")), 0o600);
    run(&mut with_xdg(), &["release", "list"]).ok();
    let shown = run(&mut with_xdg(), &["config", "show", "--json"]).ok().json();
    assert_eq!(shown["url"]["value"], url);
    assert!(
        shown["token"]["from"].as_str().unwrap().contains("admin.token"),
        "{shown}"
    );
    assert!(!shown.to_string().contains("ota_"), "never the token: {shown}");

    // Without XDG_CONFIG_HOME: ~/.config/otactl/config.toml.
    std::fs::create_dir_all(s.work.join("home/.config/otactl")).unwrap();
    std::fs::copy(
        xdg.join("otactl/config.toml"),
        s.work.join("home/.config/otactl/config.toml"),
    )
    .unwrap();
    run(&mut s.bare(), &["release", "list"]).ok();

    // Environment only, with the token itself in OTACTL_TOKEN.
    let token = std::fs::read_to_string(&s.token_file).unwrap();
    let mut env_only = s.bare();
    env_only
        .env("OTACTL_URL", url)
        .env("OTACTL_CA", &s.ca_pem)
        .env("OTACTL_TOKEN", token.trim())
        .env("HOME", "/nonexistent");
    run(&mut env_only, &["release", "list"]).ok();

    // Flags only.
    let mut flags = s.bare();
    flags.env("HOME", "/nonexistent");
    run(
        &mut flags,
        &[
            "--url",
            url,
            "--ca",
            "srv/tls/fleet-ca.pem",
            "--token-file",
            "admin.token",
            "release",
            "list",
        ],
    )
    .ok();

    // A config file holding the token itself must be private too.
    let inline = s.work.join("inline.toml");
    std::fs::write(
        &inline,
        format!(
            "url = \"{url}\"\nca = \"srv/tls/fleet-ca.pem\"\ntoken = \"{}\"\n",
            token.trim()
        ),
    )
    .unwrap();
    chmod(&inline, 0o644);
    let mut c = s.bare();
    run(&mut c, &["--config", "inline.toml", "release", "list"]).fails(2, "readable by group or others");
    chmod(&inline, 0o600);
    // Relative paths in a config file are relative to the file (here: work/, so srv/... resolves).
    run(&mut s.bare(), &["--config", "inline.toml", "release", "list"]).ok();
}

#[test]
fn the_token_is_never_accepted_on_the_command_line() {
    let s = Server::start();
    let token = std::fs::read_to_string(&s.token_file).unwrap();
    for flag in ["--token", "--bearer", "-t"] {
        let out = run(&mut s.otactl(), &[flag, token.trim(), "release", "list"]);
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(out.stdout.is_empty());
    }
    // Nothing configured: a usage/config error that says how to configure.
    run(&mut s.bare(), &["release", "list"]).fails(2, "no server URL");
    let mut no_token = s.bare();
    no_token.env("OTACTL_URL", &s.url).env("OTACTL_CA", &s.ca_pem);
    let out = run(&mut no_token, &["release", "list"]).fails(2, "no token");
    assert!(out.stderr.contains("never taken from the command line"), "{out:?}");
}

#[test]
fn unreachable_server_and_wrong_ca_are_transport_errors() {
    let s = Server::start();
    let mut closed = s.otactl();
    // Port 1 on loopback: nothing listens there.
    closed.env("OTACTL_URL", "https://localhost:1");
    run(&mut closed, &["release", "list"]).fails(2, "cannot reach the server");

    // A CA that did not issue the server's certificate.
    let other_ca = s.work.join("other-ca.pem");
    std::fs::write(&other_ca, ota_server::init::DevCa::generate().unwrap().cert_pem()).unwrap();
    let mut wrong_ca = s.otactl();
    wrong_ca.env("OTACTL_CA", &other_ca);
    run(&mut wrong_ca, &["release", "list"]).fails(2, "--ca");

    // A bad token is the server's refusal: exit 1 with its code.
    let bad = s.work.join("bad.token");
    std::fs::write(&bad, "ota_not_a_real_token\n").unwrap();
    chmod(&bad, 0o600);
    let mut c = s.otactl();
    c.env("OTACTL_TOKEN_FILE", &bad);
    run(&mut c, &["release", "list"]).fails(1, "error: invalid_token: ");
}
