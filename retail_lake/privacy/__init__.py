"""Protection of card data and personal data before anything is stored."""
