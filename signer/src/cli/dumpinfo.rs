//! `signer dumpinfo [--json] IMAGE`

use std::path::PathBuf;

use manifest::image::{ImageView, Tlv, TlvIter, BOOT_MAGIC};

use crate::error::Error;

#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  signer dumpinfo --json app.signed.bin | jq .header")]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The image (binary or .hex).
    pub image: PathBuf,
}

fn tlv_json(tlv: &Tlv<'_>) -> serde_json::Value {
    serde_json::json!({
        "offset": tlv.offset,
        "type": format!("0x{:02x}", tlv.kind.0),
        "name": tlv.kind.name().unwrap_or("UNKNOWN"),
        "len": tlv.value.len(),
        "value": hex::encode(tlv.value),
    })
}

fn tlvs_json(iter: TlvIter<'_>) -> Vec<serde_json::Value> {
    iter.filter_map(Result::ok).map(|t| tlv_json(&t)).collect()
}

pub fn run(args: &Args) -> Result<(), Error> {
    let bytes = super::verify::read_image(&args.image)?;
    let view = ImageView::parse(&bytes).map_err(|e| {
        Error::invalid(format!("{} is not a valid MCUboot image: {e}", args.image.display()))
            .with_hint("dumpinfo reads signed images; was the file produced by `signer sign` or imgtool?")
    })?;
    let h = view.header();
    let trailer = view.trailer();
    let magic_present = trailer.len() >= 16 && trailer[trailer.len() - 16..] == BOOT_MAGIC;
    let value = serde_json::json!({
        "header": {
            "magic": "0x96f3b83d",
            "load_addr": format!("0x{:08x}", h.load_addr),
            "hdr_size": h.hdr_size,
            "protect_tlv_size": h.protect_tlv_size,
            "img_size": h.img_size,
            "flags": format!("0x{:08x}", h.flags.0),
            "flag_names": h.flags.names().collect::<Vec<_>>(),
            "version": h.version.to_string(),
        },
        "protected_tlvs": tlvs_json(view.protected_tlvs()),
        "tlvs": tlvs_json(view.unprotected_tlvs()),
        "image_len": view.image_len(),
        "trailer": { "len": trailer.len(), "boot_magic": magic_present },
    });
    if args.json {
        super::print_json(&value);
        return Ok(());
    }
    println!("header:");
    for (k, v) in value["header"].as_object().into_iter().flatten() {
        println!("  {k:<17} {}", v.to_string().trim_matches('"'));
    }
    for (title, key) in [("protected TLVs", "protected_tlvs"), ("TLVs", "tlvs")] {
        println!("{title}:");
        for tlv in value[key].as_array().into_iter().flatten() {
            println!(
                "  @{:<6} {:<5} {:<11} len {:<4} {}",
                tlv["offset"],
                tlv["type"].as_str().unwrap_or(""),
                tlv["name"].as_str().unwrap_or(""),
                tlv["len"],
                tlv["value"].as_str().unwrap_or("")
            );
        }
    }
    println!("image length: {} bytes", view.image_len());
    println!(
        "trailer: {} bytes{}",
        trailer.len(),
        if magic_present { ", boot magic present" } else { "" }
    );
    Ok(())
}
