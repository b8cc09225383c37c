/**
 * Acquiring the WebGPU adapter and device, describing them, and noticing
 * when the device is lost.
 *
 * @module
 */

/// <reference types="npm:@webgpu/types@0.1.74" />

/** What heed knows about the WebGPU adapter. */
export interface AdapterInfo {
  /** The adapter's description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  readonly description: string;
  /** Vendor string (may be a number as text). */
  readonly vendor: string;
  /** Architecture string, often empty. */
  readonly architecture: string;
  /** Whether this is a software (fallback) adapter such as Mesa llvmpipe. */
  readonly isSoftware: boolean;
  /** The limits heed relies on. */
  readonly limits: Readonly<Record<string, number>>;
  /** Optional features, e.g. "shader-f16". */
  readonly features: readonly string[];
}

const LIMIT_NAMES = [
  "maxComputeWorkgroupsPerDimension",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupStorageSize",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "minUniformBufferOffsetAlignment",
] as const;

/** Requests an adapter, or returns null when WebGPU is absent. */
export async function requestAdapter(): Promise<GPUAdapter | null> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return null;
  try {
    return await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    return null;
  }
}

/** Describes an adapter. */
export function describeAdapter(adapter: GPUAdapter): AdapterInfo {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    limits[name] = Number(
      (adapter.limits as unknown as Record<string, number>)[name],
    );
  }
  const description = info?.description ?? "";
  const isSoftware = Boolean(
    (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ||
      (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ||
      /llvmpipe|swiftshader|lavapipe|software|warp/i.test(description),
  );
  return {
    description,
    vendor: info?.vendor ?? "",
    architecture: info?.architecture ?? "",
    isSoftware,
    limits,
    features: [...adapter.features].map(String),
  };
}

/** Requests a device with the adapter's storage limits raised to the maximum. */
export async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const want = (n: string) =>
    (adapter.limits as unknown as Record<string, number>)[n]!;
  return await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: want("maxStorageBufferBindingSize"),
      maxBufferSize: want("maxBufferSize"),
      maxStorageBuffersPerShaderStage: want("maxStorageBuffersPerShaderStage"),
      maxComputeWorkgroupStorageSize: want("maxComputeWorkgroupStorageSize"),
      maxComputeInvocationsPerWorkgroup: want(
        "maxComputeInvocationsPerWorkgroup",
      ),
      maxComputeWorkgroupSizeX: want("maxComputeWorkgroupSizeX"),
    },
  });
}
