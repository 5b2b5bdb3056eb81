/** Weight storage types for `LoadOptions.weightType` and `convertModel` (ggml block formats and floats). */
export const WEIGHT_TYPES = [
  "f32",
  "f16",
  "bf16",
  "q8_0",
  "q4_0",
  "q4_1",
  "q5_0",
  "q5_1",
  "q2_K",
  "q3_K",
  "q4_K",
  "q5_K",
  "q6_K",
] as const;
export type WeightType = (typeof WEIGHT_TYPES)[number];

export function isWeightType(t: unknown): t is WeightType {
  return (WEIGHT_TYPES as readonly unknown[]).includes(t);
}
