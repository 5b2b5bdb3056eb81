/** A LoRA requested with `<lora:name:weight>` (or `<lyco:...>`) in a prompt. */
export interface LoraTag {
  name: string;
  scale: number;
}

// A1111 extra-network tags: <type:args>, args separated by ':'.
const TAG_RE = /<(\w+):([^>]+)>/g;
const LORA_TYPES = new Set(["lora", "lyco"]);

/**
 * Removes extra-network tags from `prompt` and returns the LoRA ones. `<lora:name>` has scale 1;
 * further arguments (A1111's separate U-Net multiplier) are ignored. Tags of other types are removed
 * too (as A1111 does); a LoRA tag whose weight is not a number stays in the text.
 */
export function extractLoras(prompt: string): { text: string; loras: LoraTag[] } {
  const loras: LoraTag[] = [];
  const text = prompt.replace(TAG_RE, (tag, type: string, args: string) => {
    if (!LORA_TYPES.has(type)) return "";
    const [name = "", weight] = args.split(":");
    const scale = weight === undefined || weight.trim() === "" ? 1 : Number(weight);
    if (name.trim() === "" || !Number.isFinite(scale)) return tag;
    loras.push({ name: name.trim(), scale });
    return "";
  });
  return { text, loras };
}
