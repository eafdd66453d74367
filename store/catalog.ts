// What the demo store sells. Prices in minor units, as everywhere in paynats.
export interface Product {
  id: string;
  name: string;
  description: string;
  amount: number;
  currency: string;
}

export const PRODUCTS: readonly Product[] = [
  { id: 'sku_mug', name: 'Paynats enamel mug', description: 'Holds 350 ml of coffee; survives a camp fire.', amount: 1999, currency: 'usd' },
  { id: 'sku_tee', name: 'JetStream T-shirt', description: 'Organic cotton, printed with the stream of your choice.', amount: 2500, currency: 'usd' },
];

export const productById = (id: string) => PRODUCTS.find((p) => p.id === id) ?? null;
